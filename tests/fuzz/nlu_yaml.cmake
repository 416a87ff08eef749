cd_add_fuzzer(nlu_yaml LIBS cd_nlu)
