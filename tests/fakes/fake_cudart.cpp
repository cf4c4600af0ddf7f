// Stands for libcudart in cuda_plugin_test: a dependency of a fake plugin that the loader cannot
// find (the plugin carries no RUNPATH to it), as on a machine without the CUDA runtime.
extern "C" __attribute__((visibility("default"))) int ipfskit_fake_cudart_version() { return 13; }
