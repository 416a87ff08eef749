# The executor config file parser (lib/config, docs/configuration.md).
cd_add_fuzzer(config LIBS cd_config cd_util)
