# The tests build their archives with libarchive itself.
target_link_libraries(cwb_archive_tests PRIVATE LibArchive::LibArchive)
# ... and gzip streams with zlib directly (the writers whose output the recipe must reproduce).
find_package(ZLIB REQUIRED)
target_link_libraries(cwb_archive_tests PRIVATE ZLIB::ZLIB)
