# NLU model (tokenizer, features, classifier, tagger, fallback, config, archive): unit tests
# in memory and temp dirs, and floors on the shared real data sets.
cd_add_unit(nlu_model LIBS cd_nlu)
cd_add_unit(nlu_model_shared LIBS cd_nlu)
cd_add_unit(nlu_classifier LIBS cd_nlu)
cd_add_unit(nlu_features LIBS cd_nlu)
# the CLI end to end (exit codes, reproducible archives, JSON lines)
if(TARGET conductor-nlu)
  cd_add_test(NAME unit/nlu_model_cli
              COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/nlu_model_cli.sh $<TARGET_FILE:conductor-nlu> ${CD_SHARED_DIR}
              LABELS unit)
endif()
