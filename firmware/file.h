/* Reading whole boot files (kernel, initrd, firmware) with one clear error line on failure. */
#ifndef FIRMWARE_FILE_H
#define FIRMWARE_FILE_H

#include <stddef.h>
#include <stdint.h>

struct file_data {
    uint8_t *data;
    size_t size;
};

/* `what` names the file's role in the error line ("kernel", "initrd", "firmware"). */
int file_read_all(const char *path, const char *what, struct file_data *out);
void file_free(struct file_data *f);

#endif
