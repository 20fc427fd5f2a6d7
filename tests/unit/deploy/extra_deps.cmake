# tests/unit/deploy checks deploy/ (no plugin module of its own): the systemd units through systemd-analyze
# (scripts/install-deps.sh installs systemd) and the Prometheus rules against the metrics the hooks write.
# cwb_deploy stands for what it needs: the file helpers, the subprocess wrapper, the run report (the metrics
# the hooks write), yaml-cpp for the rules.
find_package(yaml-cpp REQUIRED)
add_library(cwb_deploy INTERFACE)
target_link_libraries(cwb_deploy INTERFACE cwb_snapshot cwb_util yaml-cpp)
# systemd-analyze verify checks that ExecStart names an executable: the units are verified against the
# built hooks.
foreach(hook connectware-backup connectware-restore)
  if(TARGET ${hook})
    add_dependencies(cwb_deploy_tests ${hook})
  endif()
endforeach()
