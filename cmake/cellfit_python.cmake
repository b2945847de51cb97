# The Python module `cellfit` (python/), built with nanobind. CELLFIT_ENABLE_PYTHON defaults to
# ON when a Python interpreter with its development headers and nanobind are found (PyPI:
# `pip install nanobind`, scripts/install_deps.sh), OFF otherwise; set it ON to make their
# absence an error. `pip install .` (pyproject.toml, scikit-build-core) builds this same project
# with the option ON.
find_package(Python 3.8 COMPONENTS Interpreter Development.Module QUIET)
set(_cellfit_python_found FALSE)
if(Python_FOUND)
  if(NOT nanobind_DIR)
    execute_process(COMMAND "${Python_EXECUTABLE}" -m nanobind --cmake_dir
                    OUTPUT_VARIABLE _cellfit_nanobind_dir OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _cellfit_nanobind_rc ERROR_QUIET)
    if(_cellfit_nanobind_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_cellfit_nanobind_dir}")
    endif()
  endif()
  find_package(nanobind CONFIG QUIET)
  if(nanobind_FOUND)
    set(_cellfit_python_found TRUE)
  endif()
endif()
option(CELLFIT_ENABLE_PYTHON "Build the Python module (needs Python headers and nanobind)"
       ${_cellfit_python_found})
if(CELLFIT_ENABLE_PYTHON)
  if(NOT _cellfit_python_found)
    message(FATAL_ERROR "cellfit: CELLFIT_ENABLE_PYTHON needs a Python interpreter with its "
                        "headers (Debian: python3-dev) and nanobind (pip install nanobind; "
                        "scripts/install_deps.sh)")
  endif()
  message(STATUS "cellfit: Python module for ${Python_EXECUTABLE} (nanobind ${nanobind_VERSION})")
else()
  message(STATUS "cellfit: no Python module (CELLFIT_ENABLE_PYTHON is OFF)")
endif()
