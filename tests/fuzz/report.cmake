cd_add_fuzzer(report LIBS cd_report)
