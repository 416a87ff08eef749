cd_add_fuzzer(nlu_json LIBS cd_nlu)
