# lib/config and lib/job unit tests (execconf). Included by tests/unit/CMakeLists.txt.
cd_add_unit(config LIBS cd_config cd_util)
cd_add_unit(job LIBS cd_job cd_config cd_util)
if(TARGET cd_executor_common)
  cd_add_unit(execcommon LIBS cd_executor_common cd_util)
endif()
