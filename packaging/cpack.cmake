# deb and rpm packages: `scripts/package.sh` (cpack -G DEB / -G RPM in the build dir);
# `scripts/check-packages.sh BUILD_DIR` checks them.
#
# Components: `main` -> package ipfskit (everything but the CUDA plugin); `cuda` (accel/, only
# when nvcc was found) -> package ipfskit-cuda, which needs ipfskit of the same version and
# NVIDIA's CUDA runtime (libcudart, libcublas), which are not Debian or Fedora packages: its
# dependencies on them are left out (no dpkg-shlibdeps, rpm autoreq filtered).
include(${CMAKE_CURRENT_LIST_DIR}/install.cmake)

set(CPACK_PACKAGE_NAME ipfskit)
set(CPACK_PACKAGE_VENDOR "ipfskit")
set(CPACK_PACKAGE_CONTACT "ipfskit maintainers <maintainers@ipfskit.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "IPFS as a FUSE filesystem: /ipfs, /ipns, /mfs, /infer")
set(CPACK_PACKAGE_DESCRIPTION
    "ipfskit mounts IPFS content as ordinary files: /ipfs/<cid> read-only and
verified, /mfs writable with a CID for every state, and /infer for embeddings.
Blocks come from a local LMDB repo, a Kubo node or HTTP trustless gateways.
Includes systemd units (system: /mnt/ipfs; user: ~/ipfs) and a Kubo-like CLI.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_GROUPING IGNORE)
set(CPACK_COMPONENT_MAIN_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_COMPONENT_CUDA_DESCRIPTION
    "CUDA backend for ipfskit's /infer (a plugin loaded at run time). Needs the
CUDA runtime (libcudart, libcublas) from NVIDIA's CUDA packages and a driver.")
set(CPACK_COMPONENT_CUDA_DEPENDS main)

# With one component CPack makes a single package and reads only the plain variables; with the
# cuda component too it makes one per component and reads CPACK_<GEN>_MAIN_* for ipfskit.
get_cmake_property(_ipfskit_components COMPONENTS)
if("cuda" IN_LIST _ipfskit_components)
  set(_main MAIN_)
  set(CPACK_DEB_COMPONENT_INSTALL ON)
  set(CPACK_RPM_COMPONENT_INSTALL ON)
else()
  set(_main "")
endif()

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/ipfskit/ipfskit")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_${_main}PACKAGE_NAME ipfskit)
set(CPACK_DEBIAN_${_main}PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_${_main}PACKAGE_DEPENDS "fuse3")
set(CPACK_DEBIAN_${_main}PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/conffiles
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm)
set(CPACK_DEBIAN_CUDA_PACKAGE_NAME ipfskit-cuda)
set(CPACK_DEBIAN_CUDA_PACKAGE_SECTION contrib/utils)
set(CPACK_DEBIAN_CUDA_PACKAGE_SHLIBDEPS OFF)
# No shlibdeps (libcudart has no Debian package), so the C and C++ runtimes are named by hand.
set(CPACK_DEBIAN_CUDA_PACKAGE_DEPENDS "ipfskit (= ${PROJECT_VERSION}), libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1 (>= 3.0)")

set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "MIT OR Apache-2.0")
set(CPACK_RPM_PACKAGE_GROUP "Applications/System")
set(CPACK_RPM_PACKAGE_URL "https://github.com/ipfskit/ipfskit")
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_${_main}PACKAGE_NAME ipfskit)
set(CPACK_RPM_${_main}PACKAGE_REQUIRES "fuse3")
set(CPACK_RPM_CUDA_PACKAGE_NAME ipfskit-cuda)
set(CPACK_RPM_CUDA_PACKAGE_REQUIRES "ipfskit = ${PROJECT_VERSION}")
# No /usr/lib/.build-id links (the deb has none: same file list). The CUDA libraries come from
# NVIDIA, whose packages need not provide their sonames.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none
%global __requires_exclude ^lib(cudart|cublas|cublasLt)[.]so")
# Directories the system owns (filesystem, systemd, bash-completion, man-db): not ours to own.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/sbin /usr/lib/systemd /usr/lib/systemd/system /usr/lib/systemd/user /usr/share/man
    /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8 /usr/share/bash-completion
    /usr/share/bash-completion/completions)
set(CPACK_RPM_${_main}PRE_UNINSTALL_SCRIPT_FILE ${CMAKE_CURRENT_LIST_DIR}/rpm/preun.sh)
set(CPACK_RPM_${_main}USER_FILELIST "%config(noreplace) /etc/ipfskit/config.json")

include(CPack)

# `ctest -L slow -R packages`: builds both packages and checks them (skipped, code 77, when
# dpkg-deb, rpm or lintian is missing).
if(IPFSKIT_TESTS)
  add_test(NAME packages COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-packages.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(packages PROPERTIES LABELS slow TIMEOUT 900 SKIP_RETURN_CODE 77 RUN_SERIAL ON)
endif()
