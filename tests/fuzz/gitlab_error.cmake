# GitLab error bodies and rate-limit headers (lib/gitlab, contract §7.1/§7.2).
cd_add_fuzzer(gitlab_error LIBS cd_gitlab)
