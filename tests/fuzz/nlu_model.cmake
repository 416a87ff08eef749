cd_add_fuzzer(nlu_model LIBS cd_nlu)
