# The fakes build Connectware's export archive with libarchive.
target_link_libraries(cwb_backup_tests PRIVATE LibArchive::LibArchive)
