# lib/driver: the agent protocol against the real conductor-agent binary (no engine needed).
cd_add_unit(driver LIBS cd_driver)
add_dependencies(test_driver conductor-agent)
