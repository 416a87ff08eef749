cd_add_fuzzer(nlu_annotation LIBS cd_nlu)
