# Tells whether /dev/kvm is hardware-assisted (VT-x/AMD-V) or this project's nested kvm_pvm host,
# whose instruction emulator cannot run full Linux guests (see README "Test tiers").
hardware_kvm() {
    [ -e /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo
}
