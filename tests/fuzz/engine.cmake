# Engine client parsers: the multiplexed exec stream and reply handling (errors, JSON, pull
# progress, image references).
cd_add_fuzzer(engine_demux LIBS cd_engine)
cd_add_fuzzer(engine_response LIBS cd_engine)
