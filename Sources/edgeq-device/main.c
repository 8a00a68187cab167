// Entry point of the device executable (run, eval, bench, inspect; no ONNX import). It is C so that the CPU
// check below runs before any code compiled for the board's CPU: a Raspberry Pi 5 build (Cortex-A76) may use
// dot product, LSE atomic and other ARMv8.2 instructions anywhere, which would die with SIGILL on a Pi 4.
// Embedded Swift has no CommandLine either, so main hands argv to the Swift entry (EdgeQDevice).
#include <stdio.h>

int edgeq_device_main(int argc, const char *const *argv);

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>

// The optional instruction set features that this file's compiler flags let the compiler use in ordinary
// code (the build gives Swift and C the same -mcpu), each with the HWCAP bit by which Linux says the CPU
// has it. Features only reachable through intrinsics (AES, SHA, CRC32) are not listed.
static const struct {
    unsigned long hwcap;
    const char *name;
} compiled_features[] = {
#if defined(__ARM_FEATURE_DOTPROD)
    {HWCAP_ASIMDDP, "dot product (sdot/udot)"},
#endif
#if defined(__ARM_FEATURE_ATOMICS)
    {HWCAP_ATOMICS, "LSE atomics"},
#endif
#if defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC)
    {HWCAP_ASIMDHP, "half-precision arithmetic"},
#endif
#if defined(__ARM_FEATURE_RCPC)
    {HWCAP_LRCPC, "RCpc load-acquire"},
#endif
    {0, NULL},
};

// Prints what is missing and returns 0 if this CPU lacks a feature the binary was compiled for.
static int cpu_has_compiled_features(const char *program) {
    unsigned long hwcap = getauxval(AT_HWCAP);
    int complete = 1;
    for (int i = 0; compiled_features[i].name; i++) {
        if (hwcap & compiled_features[i].hwcap) continue;
        if (complete) fprintf(stderr, "%s: this CPU cannot run this build of EdgeQ; it lacks:\n", program);
        fprintf(stderr, "  %s\n", compiled_features[i].name);
        complete = 0;
    }
    if (!complete) {
        fprintf(stderr, "This binary is for a newer CPU (e.g. the rpi5 build needs a Raspberry Pi 5). Use the "
                        "build for this board: Targets/build rpi4 (Pi 4), rpi3 (Pi 3 / Zero 2) or aarch64 (any "
                        "ARMv8-A).\n");
    }
    return complete;
}
#else
static int cpu_has_compiled_features(const char *program) {
    (void)program;
    return 1;
}
#endif

int main(int argc, char **argv) {
    if (!cpu_has_compiled_features(argc > 0 ? argv[0] : "edgeq")) return 3;
    return edgeq_device_main(argc, (const char *const *)argv);
}
