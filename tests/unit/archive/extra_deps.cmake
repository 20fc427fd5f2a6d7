# The tests build their archives with libarchive itself.
target_link_libraries(cwb_archive_tests PRIVATE LibArchive::LibArchive)
