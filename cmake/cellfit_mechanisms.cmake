# The mechanism catalogue: every .mod file of mechanisms/ (the built-in set) and of the
# folders in CELLFIT_MECHANISMS is translated at build time by translator/cellfit_nmodl.py
# (NEURON's NMODL front end from the `neuron` wheel) into headers in the build tree,
# which kernels/catalogue.hpp includes. The headers are never committed.
set(CELLFIT_MECHANISMS "" CACHE STRING
    "Folders of .mod files to compile into the mechanism catalogue, besides mechanisms/ (;-separated)")

find_package(Python3 REQUIRED COMPONENTS Interpreter)
execute_process(COMMAND ${Python3_EXECUTABLE} -c "import neuron.nmodl, sympy"
                RESULT_VARIABLE _cellfit_nmodl_rc OUTPUT_QUIET ERROR_QUIET)
if(NOT _cellfit_nmodl_rc EQUAL 0)
  message(FATAL_ERROR "cellfit: the mechanism translator needs NEURON's NMODL front end and "
                      "sympy for ${Python3_EXECUTABLE}: pip install neuron "
                      "(scripts/install_deps.sh does it)")
endif()

set(_cellfit_mod_files "")
foreach(_dir "${CMAKE_CURRENT_SOURCE_DIR}/mechanisms" ${CELLFIT_MECHANISMS})
  get_filename_component(_dir "${_dir}" ABSOLUTE)
  if(NOT IS_DIRECTORY "${_dir}")
    message(FATAL_ERROR "cellfit: CELLFIT_MECHANISMS names '${_dir}', which is not a folder")
  endif()
  file(GLOB_RECURSE _mods CONFIGURE_DEPENDS "${_dir}/*.mod")
  list(APPEND _cellfit_mod_files ${_mods})
endforeach()
list(REMOVE_DUPLICATES _cellfit_mod_files)

set(_cellfit_gen_dir "${CMAKE_BINARY_DIR}/generated")
set(_cellfit_gen_stamp "${_cellfit_gen_dir}/cellfit_generated/catalogue.hpp")
add_custom_command(
  OUTPUT "${_cellfit_gen_stamp}"
  COMMAND ${Python3_EXECUTABLE} "${CMAKE_CURRENT_SOURCE_DIR}/translator/cellfit_nmodl.py"
          --out "${_cellfit_gen_dir}" ${_cellfit_mod_files}
  DEPENDS ${_cellfit_mod_files} "${CMAKE_CURRENT_SOURCE_DIR}/translator/cellfit_nmodl.py"
  COMMENT "cellfit: translating the NMODL mechanisms into the catalogue"
  VERBATIM)
add_custom_target(cellfit_mechanism_headers DEPENDS "${_cellfit_gen_stamp}")
# The translator runs once at configure time too, so that a bad .mod file is reported at once
# and the headers exist before anything compiles.
execute_process(
  COMMAND ${Python3_EXECUTABLE} "${CMAKE_CURRENT_SOURCE_DIR}/translator/cellfit_nmodl.py"
          --out "${_cellfit_gen_dir}" ${_cellfit_mod_files}
  RESULT_VARIABLE _cellfit_tr_rc ERROR_VARIABLE _cellfit_tr_err OUTPUT_QUIET)
if(NOT _cellfit_tr_rc EQUAL 0)
  # NOTICE prints the translator's `file:line: message` as it is (FATAL_ERROR re-wraps text).
  string(STRIP "${_cellfit_tr_err}" _cellfit_tr_err)
  message(NOTICE "${_cellfit_tr_err}")
  message(FATAL_ERROR "cellfit: a mechanism file was refused (see the line above)")
endif()
