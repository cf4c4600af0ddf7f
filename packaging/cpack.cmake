# deb and rpm packages: `scripts/package.sh` (cpack -G DEB / -G RPM in the build dir).
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/ipfskit)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/config.json DESTINATION /etc/ipfskit
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

set(CPACK_PACKAGE_NAME ipfskit)
set(CPACK_PACKAGE_VENDOR "ipfskit")
set(CPACK_PACKAGE_CONTACT "ipfskit maintainers <maintainers@ipfskit.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "IPFS as a FUSE filesystem: /ipfs, /ipns, /mfs, /infer")
set(CPACK_PACKAGE_DESCRIPTION
    "ipfskit mounts IPFS content as ordinary files: /ipfs/<cid> read-only and verified, /mfs writable with a CID for every state, and /infer for embeddings. Blocks come from a local LMDB repo, a Kubo node or HTTP trustless gateways.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
set(CPACK_DEBIAN_PACKAGE_CONFFILES "/etc/ipfskit/config.json")

set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "MIT OR Apache-2.0")
set(CPACK_RPM_PACKAGE_GROUP "Applications/System")
set(CPACK_RPM_PACKAGE_REQUIRES "fuse3")
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION /etc /etc/ipfskit)
set(CPACK_RPM_USER_FILELIST "%config(noreplace) /etc/ipfskit/config.json")

include(CPack)
