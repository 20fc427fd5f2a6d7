# The fixture stages its snapshot with the backup's own volume staging (manifest records as backups make them).
target_link_libraries(cwb_restore_tests PRIVATE cwb_backup)
