# The two commands of the README. Both install every dependency first (scripts/install-deps).
BUILD     ?= build
CMAKE_ARGS ?=
JOBS      ?= $(shell nproc)
ifeq ($(CI),true)
CMAKE_ARGS += -DRINGMASTER_WERROR=ON
endif

.PHONY: demo test deps build fuzz sanitize tsan clean bench-cluster bench-pbt

demo: deps build
	@scripts/demo $(BUILD)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

deps:
	@scripts/install-deps

build:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

# Allreduce and training on simulated hosts (network namespaces; root): the alpha-beta model's
# measured check, then the model at 8-256 GPUs (docs/scaling.md).
bench-pbt: deps build
	bench/pbt_bench.py --bin $(BUILD)/ringmaster --seeds 1,2,3,4,5

bench-cluster: deps build
	bench/cluster_bench.py --bin-dir $(BUILD)
	bench/scaling_model.py

# libFuzzer targets (clang); `make fuzz FUZZ_SECONDS=600` for a longer run.
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGMASTER_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS) --target fuzz_job_loader
	scripts/run-fuzz build-fuzz $(FUZZ_SECONDS)

# ASan + UBSan build of everything and the whole test suite.
sanitize: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRINGMASTER_SANITIZE=address
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGMASTER_SANITIZE=thread
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest --output-on-failure -j $(JOBS) -L "unit|multiproc"

clean:
	rm -rf $(BUILD) build-fuzz build-asan build-tsan
