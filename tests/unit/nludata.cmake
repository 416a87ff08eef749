# NLU data loader: unit tests (in memory, temp dirs) and the real data sets (../shared/data).
cd_add_unit(nlu_data LIBS cd_nlu)
cd_add_unit(nlu_data_shared LIBS cd_nlu)
