/* Test guest "hello": reports the boot path, reads one line from COM1 with echo, prints it back. */
#include "rt.h"

int main(void)
{
    char line[128];
    printf("hello: vmm guest up (%s)\n", boot_mode_name());
    if (boot_cmdline_has("noinput")) {
        printf("hello: noinput\n");
        return 0;
    }
    printf("hello: type a line\n");
    serial_read_line(line, sizeof(line));
    printf("hello: got %s\n", line);
    return 0;
}
