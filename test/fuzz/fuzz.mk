# libFuzzer targets (included by the top Makefile; run make from the repo root).
#   make fuzz-smoke               committed corpora + a short bounded run per target (~30 s)
#   make fuzz [FUZZ_SECONDS=60]   each target for FUZZ_SECONDS
#   make fuzz-corpus              regenerate test/fuzz/corpus with mkcorpus
# Binaries go to $(O)/fuzz/. Runs use a copy of the corpus under $(O)/fuzz/work
# (new inputs never land in the repo); crashes are saved to
# $(O)/fuzz/artifacts/<target>/. Any crash, leak or timeout fails the target.

FUZZ_CC        ?= clang
FUZZ_SECONDS   ?= 60
FUZZ_SMOKE_RUNS ?= 10000
FUZZ_TARGETS   := fuzz_log fuzz_meta fuzz_recover fuzz_recover_crypt fuzz_hint fuzz_repl_frame fuzz_repl_handshake
FUZZ_DIR       := $(O)/fuzz
FUZZ_MAXLEN_fuzz_log     := 8192
FUZZ_MAXLEN_fuzz_meta    := 128
FUZZ_MAXLEN_fuzz_recover := 4096
FUZZ_MAXLEN_fuzz_recover_crypt := 4096
FUZZ_MAXLEN_fuzz_hint    := 8192
FUZZ_MAXLEN_fuzz_repl_frame := 16384
FUZZ_MAXLEN_fuzz_repl_handshake := 4096
FUZZ_SPECS     = $(foreach t,$(FUZZ_TARGETS),$(t):$(FUZZ_MAXLEN_$(t)))
FUZZ_SANFLAGS  := -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all \
                  -fno-omit-frame-pointer
FUZZ_CFLAGS    := $(filter-out -MMD -MP -fPIC -fvisibility=hidden,$(ARM_CFLAGS)) -DARM_TEST \
                  -I. $(FUZZ_SANFLAGS) -MMD -MP $(DEP_CFLAGS)
FUZZ_LIB_SRC   := $(wildcard common/*.c) $(wildcard engine/*.c) $(wildcard repl/*.c)
FUZZ_LIB_OBJ   := $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS      := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-corpus

# CI installs clang and its fuzzer runtime; fail clearly when they are missing.
$(FUZZ_DIR)/.toolcheck:
	@mkdir -p $(dir $@)
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
		echo "fuzz: $(FUZZ_CC) not found (install clang-14; make FUZZ_CC=... to choose one)"; exit 1; }
	@printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
		> $(FUZZ_DIR)/toolcheck.c
	@$(FUZZ_CC) -fsanitize=address,undefined,fuzzer $(FUZZ_DIR)/toolcheck.c -o $(FUZZ_DIR)/toolcheck \
		>$(FUZZ_DIR)/toolcheck.log 2>&1 || { cat $(FUZZ_DIR)/toolcheck.log; \
		echo "fuzz: $(FUZZ_CC) cannot link -fsanitize=address,undefined,fuzzer" \
		     "(install the libFuzzer runtime: libclang-rt-14-dev)"; exit 1; }
	@touch $@

$(FUZZ_DIR)/obj/%.o: %.c | $(FUZZ_DIR)/.toolcheck
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BINS): $(FUZZ_DIR)/%: $(FUZZ_DIR)/obj/test/fuzz/%.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) -fsanitize=address,undefined,fuzzer -o $@ $^ $(DEP_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@for spec in $(FUZZ_SPECS); do \
		sh test/fuzz/run.sh $(FUZZ_DIR) $${spec%%:*} $${spec##*:} -runs=$(FUZZ_SMOKE_RUNS) \
			-max_total_time=15 || exit 1; done
	@echo "fuzz-smoke: all targets passed"

fuzz: $(FUZZ_BINS)
	@for spec in $(FUZZ_SPECS); do \
		sh test/fuzz/run.sh $(FUZZ_DIR) $${spec%%:*} $${spec##*:} -max_total_time=$(FUZZ_SECONDS) \
			|| exit 1; done
	@echo "fuzz: all targets passed ($(FUZZ_SECONDS) s each)"

# Regenerate the committed seed corpora (review the diff, then commit).
$(FUZZ_DIR)/mkcorpus: test/fuzz/mkcorpus.c test/fuzz/fuzz_util.h test/fuzz/fuzz_frame.h common/arm_hash.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -MMD -MP -fPIC -fvisibility=hidden,$(ARM_CFLAGS)) $(DEP_CFLAGS) \
		-o $@ test/fuzz/mkcorpus.c common/arm_hash.c $(DEP_LIBS)

# The replication corpora come from the real encoders (repl_wire.c).
MKCORPUS_REPL_SRC := test/fuzz/mkcorpus_repl.c common/arm_alloc.c common/arm_hash.c common/arm_rc.c \
                     repl/repl_wire.c repl/repl_opts.c
$(FUZZ_DIR)/mkcorpus_repl: $(MKCORPUS_REPL_SRC) test/fuzz/fuzz_repl.h repl/repl_int.h repl/arm_repl.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -MMD -MP -fPIC -fvisibility=hidden,$(ARM_CFLAGS)) $(DEP_CFLAGS) \
		-o $@ $(MKCORPUS_REPL_SRC) $(DEP_LIBS)

fuzz-corpus: $(FUZZ_DIR)/mkcorpus $(FUZZ_DIR)/mkcorpus_repl
	rm -rf test/fuzz/corpus/fuzz_log test/fuzz/corpus/fuzz_meta test/fuzz/corpus/fuzz_recover \
		test/fuzz/corpus/fuzz_recover_crypt \
		test/fuzz/corpus/fuzz_hint test/fuzz/corpus/fuzz_repl_frame \
		test/fuzz/corpus/fuzz_repl_handshake
	$(FUZZ_DIR)/mkcorpus test/fuzz/corpus
	$(FUZZ_DIR)/mkcorpus_repl test/fuzz/corpus

-include $(wildcard $(FUZZ_DIR)/obj/*/*.d $(FUZZ_DIR)/obj/*/*/*.d)
