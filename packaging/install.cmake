# What the packages install besides the binary: man pages and bash completion generated from the
# binary's own help (packaging/man/gen-man.sh, `ipfskit completion bash`), systemd units, the
# config file, copyright and changelog. Everything here is COMPONENT main (package `ipfskit`).
set(IPFSKIT_PKG_DIR ${PROJECT_BINARY_DIR}/packaging)
set(IPFSKIT_PKG_SRC ${PROJECT_SOURCE_DIR}/packaging)

install(TARGETS ipfskit RUNTIME DESTINATION bin COMPONENT main)

find_program(IPFSKIT_HELP2MAN help2man)
if(IPFSKIT_HELP2MAN)
  add_custom_command(
    OUTPUT ${IPFSKIT_PKG_DIR}/ipfskit.1.gz ${IPFSKIT_PKG_DIR}/ipfskit.conf.5.gz
    COMMAND ${IPFSKIT_PKG_SRC}/man/gen-man.sh $<TARGET_FILE:ipfskit> ${IPFSKIT_PKG_DIR} ${PROJECT_VERSION}
    DEPENDS ipfskit ${IPFSKIT_PKG_SRC}/man/gen-man.sh ${IPFSKIT_PKG_SRC}/man/ipfskit.1.h2m
            ${PROJECT_SOURCE_DIR}/fuse/cli/cmd_help.cpp
    COMMENT "Man pages from ipfskit --help, help-all and help-config")
  add_custom_target(ipfskit_man ALL DEPENDS ${IPFSKIT_PKG_DIR}/ipfskit.1.gz ${IPFSKIT_PKG_DIR}/ipfskit.conf.5.gz)
  install(FILES ${IPFSKIT_PKG_DIR}/ipfskit.1.gz DESTINATION share/man/man1 COMPONENT main)
  install(FILES ${IPFSKIT_PKG_DIR}/ipfskit.conf.5.gz DESTINATION share/man/man5 COMPONENT main)
else()
  message(WARNING "help2man not found: the packages will have no man pages (scripts/install-deps.sh installs it)")
endif()

add_custom_command(
  OUTPUT ${IPFSKIT_PKG_DIR}/ipfskit.bash
  COMMAND ipfskit completion bash > ${IPFSKIT_PKG_DIR}/ipfskit.bash
  DEPENDS ipfskit
  COMMENT "bash completion from the command tree")
add_custom_target(ipfskit_completion ALL DEPENDS ${IPFSKIT_PKG_DIR}/ipfskit.bash)
install(FILES ${IPFSKIT_PKG_DIR}/ipfskit.bash DESTINATION share/bash-completion/completions
        RENAME ipfskit COMPONENT main)

# lib/systemd under /usr on both Debian (merged /usr) and Fedora, so the file lists match.
install(FILES ${IPFSKIT_PKG_SRC}/systemd/ipfskit.service ${IPFSKIT_PKG_SRC}/systemd/ipfskit-republish.service
              ${IPFSKIT_PKG_SRC}/systemd/ipfskit-republish.timer DESTINATION lib/systemd/system COMPONENT main)
install(FILES ${IPFSKIT_PKG_SRC}/systemd/ipfskit.user.service DESTINATION lib/systemd/user
        RENAME ipfskit.service COMPONENT main)

# `mount -t fuse.ipfskit` and fstab: libmount runs /sbin/mount.fuse.ipfskit, else /sbin/mount.fuse.
# Debian's fuse3 has mount.fuse (a link to mount.fuse3) but Fedora/RHEL's fuse3 has only
# mount.fuse3 (mount.fuse is in fuse 2), so ship the link that libfuse documents for this.
file(MAKE_DIRECTORY ${IPFSKIT_PKG_DIR})
file(CREATE_LINK mount.fuse3 ${IPFSKIT_PKG_DIR}/mount.fuse.ipfskit SYMBOLIC)
install(FILES ${IPFSKIT_PKG_DIR}/mount.fuse.ipfskit DESTINATION sbin COMPONENT main)
file(CREATE_LINK mount.fuse3.8.gz ${IPFSKIT_PKG_DIR}/mount.fuse.ipfskit.8.gz SYMBOLIC)
install(FILES ${IPFSKIT_PKG_DIR}/mount.fuse.ipfskit.8.gz DESTINATION share/man/man8 COMPONENT main)

install(FILES ${PROJECT_SOURCE_DIR}/README.md ${IPFSKIT_PKG_SRC}/copyright
        DESTINATION share/doc/ipfskit COMPONENT main)
# Dated by the last commit, so rebuilding the same tree gives the same packages.
execute_process(COMMAND ${CMAKE_COMMAND} -E env TZ=UTC git -C ${PROJECT_SOURCE_DIR} log -1
                        "--date=format-local:%a, %d %b %Y %H:%M:%S +0000" --format=%cd
                OUTPUT_VARIABLE IPFSKIT_CHANGELOG_DATE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT IPFSKIT_CHANGELOG_DATE)
  string(TIMESTAMP IPFSKIT_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()
configure_file(${IPFSKIT_PKG_SRC}/debian/changelog.in ${IPFSKIT_PKG_DIR}/changelog @ONLY)
add_custom_command(
  OUTPUT ${IPFSKIT_PKG_DIR}/changelog.gz
  COMMAND gzip -9n < ${IPFSKIT_PKG_DIR}/changelog > ${IPFSKIT_PKG_DIR}/changelog.gz
  DEPENDS ${IPFSKIT_PKG_DIR}/changelog)
add_custom_target(ipfskit_changelog ALL DEPENDS ${IPFSKIT_PKG_DIR}/changelog.gz)
install(FILES ${IPFSKIT_PKG_DIR}/changelog.gz DESTINATION share/doc/ipfskit COMPONENT main)

install(FILES ${IPFSKIT_PKG_SRC}/config.json DESTINATION /etc/ipfskit COMPONENT main
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# ipfskit-cuda needs its own copyright and changelog (Debian policy); only when accel/ built the
# plugin, or an install() here would create the component and an empty package.
if(TARGET ipfskit_cuda)
  install(FILES ${IPFSKIT_PKG_SRC}/copyright ${IPFSKIT_PKG_DIR}/changelog.gz
          DESTINATION share/doc/ipfskit-cuda COMPONENT cuda)
endif()
