#include <cstdio>

int main(int argc, char** argv) {
  std::puts("ipfskit " IPFSKIT_VERSION);
  return 0;
}
