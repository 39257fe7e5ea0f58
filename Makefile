# Thin wrapper over CMake presets. The two commands the README promises: `make demo`, `make test`.
.PHONY: all deps build demo test test-debug test-asan test-clang tidy bench clean format package

all: build

deps:
	@scripts/install-deps

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release

demo: build
	scripts/demo

# Every test, built with AddressSanitizer and UndefinedBehaviorSanitizer: the one full run,
# here and in CI (a separate unsanitized run would repeat the same tests for nothing).
test: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan
	ctest --preset asan

test-asan: test

# The same tests without the sanitizers: a quicker build while working, not needed in CI.
test-debug: deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug
	ctest --preset debug

# The same code built with clang++-14: the unit tests (the e2e suite already runs twice above).
test-clang: deps
	cmake --preset clang >/dev/null
	cmake --build --preset clang --target lethe_unit_tests
	ctest --preset clang -L unit

# clang-tidy over every translation unit of agent/, bench/ and tests/ in the clang compile
# database (configuring the clang preset writes it); any finding fails: .clang-tidy has the
# checks and makes them errors, tests/.clang-tidy a lighter set for the tests.
# `make tidy TIDY_FILES=agent/act/` checks the files whose path matches a regex.
TIDY_FILES ?= $(CURDIR)/(agent|bench|tests)/
tidy: deps
	cmake --preset clang >/dev/null
	run-clang-tidy-14 -p build/clang -j 2 -quiet '$(TIDY_FILES)'

# The Debian package, from the release build: build/release/lethe_<version>_<arch>.deb
package: build
	cd build/release && cpack -G DEB

bench: deps
	bench/walk.sh

format:
	find agent tests -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf build demo-share
