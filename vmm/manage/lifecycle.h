/* vmm start, shutdown, reboot, destroy, suspend, resume, undefine: a defined VM's life cycle. */
#ifndef VMM_MANAGE_LIFECYCLE_H
#define VMM_MANAGE_LIFECYCLE_H

#include <stddef.h>

/* Runs the verb argv[0]; -1 when it is not a life-cycle verb. */
int lifecycle_main(int argc, char **argv);
/* ACPI power button, then waits up to timeout_s for the VM to power off. */
int managed_shutdown(const char *name, int timeout_s, char *err, size_t errlen);
/* QMP quit, then SIGKILL if the process is still there after a grace period. */
int managed_destroy(const char *name, char *err, size_t errlen);

#endif
