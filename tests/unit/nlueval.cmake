# NLU evaluation (lib/nlu/eval-*.c): reports, writers, folds on synthetic data.
cd_add_unit(nlu_eval LIBS cd_nlu cd_util m)
# conductor-nlu train + test end to end on a small Braun corpus; validates every output file.
if(TARGET conductor-nlu)
  cd_add_test(NAME data/nlu_test_e2e
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_nlu_eval_e2e.py $<TARGET_FILE:conductor-nlu>
    LABELS data TIMEOUT 120)
endif()
