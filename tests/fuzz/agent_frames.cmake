# The agent protocol frames conductor-run parses (lib/driver/agent-client.c).
cd_add_fuzzer(agent_frames LIBS cd_driver)
