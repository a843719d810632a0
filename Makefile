# milkit build: plain GNU make. Variants: BUILD=debug (default) | release | asan | fuzz.
# Objects go under build/$(BUILD)/, generated protobuf-c code under build/gen/.
BUILD ?= debug
O ?= build/$(BUILD)
GEN := build/gen
CC ?= cc

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2
# a switch over an enum names every value (op switches: src/ir/op_cases.h), so an op added to
# ops.def that a switch misses is a compile error
WARN += -Wswitch-enum
# no a * b + c contracted to FMA: gcc in ISO C mode never does, clang would per expression, and
# the kernels' bits (fused vs unfused, SIMD clones vs portable loops) must not depend on it
CSTD := -std=c11 -ffp-contract=off -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64
INC := -Iinclude -Isrc -Itests -I$(GEN) -I/usr/include/cjson
LIBS := -lprotobuf-c -lcjson -lzip -lm -lpthread -ldl

ifeq ($(BUILD),release)
  OPT := -O2 -DNDEBUG
else ifeq ($(BUILD),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -DMK_DEBUG
  LDSAN := -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
  CC := clang
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -DMK_DEBUG
  LDSAN := -fsanitize=address,undefined
else
  OPT := -O0 -g -DMK_DEBUG
endif

CFLAGS ?=
ifeq ($(WERROR),1)
  WARN += -Werror
endif
CFLAGS += $(CSTD) $(WARN) $(OPT) $(INC) -MMD -MP
# position-independent objects serve both libraries; only milkit.h's declarations are exported
# from the shared one (its visibility pragma), everything else stays hidden
PICFLAGS := -fPIC -fvisibility=hidden
CFLAGS += $(PICFLAGS)
LDFLAGS += $(LDSAN)

# protobuf-c generated sources (never committed)
CML_PROTOS := $(wildcard proto/*.proto)
CML_GEN_C := $(patsubst proto/%.proto,$(GEN)/proto/%.pb-c.c,$(CML_PROTOS))
ONNX_PROTO := /usr/include/onnx/onnx.proto
ONNX_GEN_C := $(GEN)/onnx/onnx.pb-c.c
GEN_C := $(CML_GEN_C) $(ONNX_GEN_C)
GEN_H := $(GEN_C:.c=.h)
# keep generated sources: make would otherwise delete them as intermediate files
.SECONDARY: $(GEN_C) $(GEN_H)

LIB_SRC := $(wildcard src/*/*.c)
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/*.c tests/unit/*.c tests/golden/*.c tests/diff/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ := $(patsubst %.c,$(O)/%.o,$(LIB_SRC)) $(patsubst $(GEN)/%.c,$(O)/gen/%.o,$(GEN_C))
TOOL_OBJ := $(patsubst %.c,$(O)/%.o,$(TOOL_SRC))
TEST_OBJ := $(patsubst %.c,$(O)/%.o,$(TEST_SRC))

LIB := $(O)/libmilkit.a
SO_MAJOR := 0
SO_VERSION := $(shell sed -nE 's/^\#define MK_VERSION "([0-9.]+)"/\1/p' include/milkit.h)
SONAME := libmilkit.so.$(SO_MAJOR)
SO := $(O)/libmilkit.so
BIN := $(O)/milkit
TESTS := $(O)/milkit_tests

.PHONY: all test check clean fuzz fuzz-replay format
all: $(BIN) $(TESTS) $(SO)

$(GEN)/proto/%.pb-c.c $(GEN)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)/proto
	protoc-c --c_out=$(GEN)/proto -Iproto $<

$(ONNX_GEN_C) $(ONNX_GEN_C:.c=.h): $(ONNX_PROTO)
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I/usr/include $(ONNX_PROTO:/usr/include/%=%)

$(O)/gen/%.o: $(GEN)/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(PICFLAGS) $(INC) -w -c $< -o $@

$(O)/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/libmilkit.so.$(SO_VERSION): $(LIB_OBJ) src/api/libmilkit.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined \
	    -Wl,--version-script=src/api/libmilkit.map -o $@ $(LIB_OBJ) $(LIBS)

$(SO): $(O)/libmilkit.so.$(SO_VERSION)
	ln -sf libmilkit.so.$(SO_VERSION) $(O)/$(SONAME)
	ln -sf $(SONAME) $@

$(BIN): $(TOOL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(LIB) $(LIBS)

$(TESTS): $(TEST_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(LIB) $(LIBS)

# The test runner's last line is "N passed, N failed[, N skipped]".
test: $(BIN) $(TESTS)
	MILKIT_BIN=$(abspath $(BIN)) $(TESTS) $(T)

check: test

# shared library, install, man page, completion and Python tests (tests/lib/run.sh)
.PHONY: test-lib
test-lib: $(BIN) $(SO)
	bash tests/lib/run.sh $(O)

# libFuzzer targets (BUILD=fuzz, clang) and a replay driver that reruns corpora with gcc.
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/%,$(FUZZ_SRC))
fuzz: $(FUZZ_BINS)
$(O)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB)
ifeq ($(BUILD),fuzz)
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB) $(LIBS)
else
	$(CC) $(CFLAGS) $(LDFLAGS) -DMK_FUZZ_REPLAY -o $@ $< tests/fuzz/replay_main.c $(LIB) $(LIBS)
endif

# install / uninstall (PREFIX=/usr/local DESTDIR=...): binary, shared + static library, header,
# pkg-config file, man page and bash completion. The man page is generated from --help.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
COMPDIR ?= $(PREFIX)/share/bash-completion/completions
PCDIR ?= $(LIBDIR)/pkgconfig
.PHONY: install uninstall man
$(O)/milkit.1: $(BIN) scripts/gen_man.sh
	sh scripts/gen_man.sh $(BIN) > $@.tmp && mv $@.tmp $@
$(O)/milkit.pc: Makefile
	printf 'prefix=%s\nexec_prefix=$${prefix}\nlibdir=%s\nincludedir=%s\n\nName: milkit\nDescription: Core ML ML Program toolkit: ONNX converter, linter, fixer, CPU interpreter\nVersion: %s\nLibs: -L$${libdir} -lmilkit\nLibs.private: %s\nCflags: -I$${includedir}\n' \
	    '$(PREFIX)' '$(LIBDIR)' '$(INCLUDEDIR)' '$(SO_VERSION)' '$(LIBS)' > $@
man: $(O)/milkit.1
	cp $(O)/milkit.1 docs/milkit.1
install: $(BIN) $(LIB) $(SO) $(O)/milkit.1 $(O)/milkit.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/milkit
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libmilkit.a
	install -m 755 $(O)/libmilkit.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/libmilkit.so.$(SO_VERSION)
	ln -sf libmilkit.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmilkit.so
	install -m 644 include/milkit.h $(DESTDIR)$(INCLUDEDIR)/milkit.h
	install -m 644 $(O)/milkit.pc $(DESTDIR)$(PCDIR)/milkit.pc
	install -m 644 $(O)/milkit.1 $(DESTDIR)$(MANDIR)/man1/milkit.1
	install -m 644 scripts/milkit.bash-completion $(DESTDIR)$(COMPDIR)/milkit
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/milkit $(DESTDIR)$(LIBDIR)/libmilkit.a \
	    $(DESTDIR)$(LIBDIR)/libmilkit.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libmilkit.so $(DESTDIR)$(INCLUDEDIR)/milkit.h \
	    $(DESTDIR)$(PCDIR)/milkit.pc $(DESTDIR)$(MANDIR)/man1/milkit.1 $(DESTDIR)$(COMPDIR)/milkit

# clang-format with .clang-format over every C source and header; format-check fails on a diff
FORMAT_SRC := $(LIB_SRC) $(TOOL_SRC) $(TEST_SRC) $(FUZZ_SRC) tests/fuzz/replay_main.c \
    $(wildcard include/*.h src/*/*.h tools/*.h tests/*.h tests/unit/*.h tests/fuzz/*.h)
.PHONY: format-check
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run -Werror $(FORMAT_SRC)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
