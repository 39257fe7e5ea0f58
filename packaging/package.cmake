# Installation layout and the Debian package (`make package`: CPack DEB from the release
# build). Installing never starts disposal: the shipped config has no roots.

add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/lethe.8.gz
  COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/packaging/lethe.8 > ${CMAKE_BINARY_DIR}/lethe.8.gz
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/lethe.8
  VERBATIM)
add_custom_target(lethe_man ALL DEPENDS ${CMAKE_BINARY_DIR}/lethe.8.gz)

install(FILES ${CMAKE_BINARY_DIR}/lethe.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES systemd/lethe.service DESTINATION /lib/systemd/system)
install(FILES systemd/lethe.sysusers DESTINATION lib/sysusers.d RENAME lethe.conf)
install(FILES packaging/lethe.toml DESTINATION /etc/lethe)
install(FILES packaging/lethe.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME lethe)
install(FILES docs/operator-guide.md docs/records-manager-guide.md docs/auditor-guide.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES policies/firm-example.toml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lethe)
set(CPACK_PACKAGE_VENDOR "lethe")
set(CPACK_PACKAGE_CONTACT "lethe maintainers <lethe@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "retention and secure disposal agent for file shares")
set(CPACK_PACKAGE_DESCRIPTION
  "lethe keeps files exactly as long as the retention schedules say, never disposes of held\n data, sanitizes with verification and records signed disposal certificates.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# procps: /bin/kill, which the unit's ExecReload runs (a minimal Debian 12 does not have it).
# tzdata: /usr/share/zoneinfo, read for schedules that name a timezone.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd, procps, tzdata")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "age")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/postinst
  ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
