/* vmm list, dominfo, vncdisplay: what is defined and what runs, from definitions and live state. */
#ifndef VMM_MANAGE_INFO_H
#define VMM_MANAGE_INFO_H

/* Runs the verb argv[0]; -1 when it is not one of these. */
int info_main(int argc, char **argv);

#endif
