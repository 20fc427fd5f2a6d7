# The Debian package (cpack -G DEB; scripts/build-deb.sh): the hooks in /usr/bin, the example settings in
# /etc/connectware-backup as conffiles (0600: the environment file holds S3 keys and ping URLs), the
# resticprofile profiles, docs and Prometheus rules in /usr/share/doc/connectware-backup, the systemd units
# in /lib/systemd/system (Debian 12's place for them), and the state folder /var/lib/connectware-backup
# (0700). Library dependencies come from dpkg-shlibdeps; restic is a dependency of its own.
set(CWB_DOC_DIR share/doc/connectware-backup)
set(CWB_PACKAGE_MAINTAINER "Connectware Backup Maintainers <connectware-backup@example.org>"
    CACHE STRING "Maintainer field of the Debian package (and its changelog)")
set(VERSION ${PROJECT_VERSION})

install(FILES ${PROJECT_SOURCE_DIR}/restic-profiles/connectware-backup.conf.example
        DESTINATION /etc/connectware-backup RENAME connectware-backup.conf PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES ${PROJECT_SOURCE_DIR}/restic-profiles/connectware-backup.env.example
        DESTINATION /etc/connectware-backup RENAME env PERMISSIONS OWNER_READ OWNER_WRITE)
install(DIRECTORY DESTINATION /var/lib/connectware-backup DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE
        OWNER_EXECUTE)
file(GLOB CWB_SYSTEMD_UNITS ${PROJECT_SOURCE_DIR}/deploy/systemd/*.service ${PROJECT_SOURCE_DIR}/deploy/systemd/*.timer)
install(FILES ${CWB_SYSTEMD_UNITS} DESTINATION /lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/restic-profiles/profiles.yaml ${PROJECT_SOURCE_DIR}/restic-profiles/restore.yaml
        DESTINATION ${CWB_DOC_DIR}/restic-profiles)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/architecture.md
              ${PROJECT_SOURCE_DIR}/docs/configuration.md ${PROJECT_SOURCE_DIR}/docs/exit-codes.md
              ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/restore.md
        DESTINATION ${CWB_DOC_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/deploy/prometheus/connectware-backup.rules.yml DESTINATION ${CWB_DOC_DIR}/prometheus)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/copyright DESTINATION ${CWB_DOC_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/lintian-overrides DESTINATION share/lintian/overrides
        RENAME connectware-backup)
# A native package (no Debian revision): its changelog is changelog.gz, gzipped with -n (no name or time,
# so the package is reproducible).
configure_file(${PROJECT_SOURCE_DIR}/deploy/debian/changelog ${CMAKE_BINARY_DIR}/debian/changelog @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/debian/changelog.gz
                   COMMAND gzip -9nf -k ${CMAKE_BINARY_DIR}/debian/changelog
                   DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog)
add_custom_target(cwb_debian_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/debian/changelog.gz DESTINATION ${CWB_DOC_DIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME connectware-backup)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # connectware-backup_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CWB_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "consistent, encrypted restic backups of Cybus Connectware")
# The synopsis above is the first line; this is the extended description below it.
set(CPACK_PACKAGE_DESCRIPTION
    "Hooks for restic and resticprofile that back up a Connectware installation\n"
    "(its database through the maintenance API and the service-manager volume)\n"
    "consistently, deduplicated and encrypted, and restore it with checks, a\n"
    "safety copy and a rollback. Includes systemd timers for daily backups and\n"
    "weekly restore drills.")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "restic (>= 0.14)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
