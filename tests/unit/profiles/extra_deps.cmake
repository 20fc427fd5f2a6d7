# tests/unit/profiles checks restic-profiles/ (no plugin module of its own): cwb_profiles stands for what it
# needs, the configuration's key table and the staging layout, plus yaml-cpp to read the profiles.
find_package(yaml-cpp REQUIRED) # Debian 12: libyaml-cpp-dev (scripts/install-deps.sh)
add_library(cwb_profiles INTERFACE)
target_link_libraries(cwb_profiles INTERFACE cwb_config cwb_snapshot cwb_util yaml-cpp)
# The test runs the built hooks with the flags the profiles give them.
foreach(hook connectware-pre-backup connectware-post-backup connectware-backup connectware-restore)
  if(TARGET ${hook})
    add_dependencies(cwb_profiles_tests ${hook})
  endif()
endforeach()
