# Find Kokkos and repair the Debian (Trilinos 13.2, Kokkos 3.4.1) package, whose imported
# Kokkos::kokkos target names ${prefix}/include, a directory that does not hold the headers;
# Kokkos_INCLUDE_DIRS points at the right one. Other Kokkos installs (Spack, source builds,
# 3.4 through 4.x) are used as they are.
find_package(Kokkos REQUIRED)

if(TARGET Kokkos::kokkos)
  get_target_property(_cellfit_kokkos_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
  set(_cellfit_kokkos_fixed "")
  set(_cellfit_kokkos_broken FALSE)
  foreach(_dir IN LISTS _cellfit_kokkos_inc)
    if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}/Kokkos_Core.hpp")
      list(APPEND _cellfit_kokkos_fixed "${_dir}")
    else()
      set(_cellfit_kokkos_broken TRUE)
    endif()
  endforeach()
  if(_cellfit_kokkos_broken)
    foreach(_dir IN LISTS Kokkos_INCLUDE_DIRS)
      get_filename_component(_dir "${_dir}" REALPATH)
      if(EXISTS "${_dir}/Kokkos_Core.hpp")
        list(APPEND _cellfit_kokkos_fixed "${_dir}")
      endif()
    endforeach()
    if(NOT _cellfit_kokkos_fixed)
      message(FATAL_ERROR "cellfit: Kokkos::kokkos has no usable include directory "
                          "(tried '${_cellfit_kokkos_inc}' and '${Kokkos_INCLUDE_DIRS}')")
    endif()
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
                                                    "${_cellfit_kokkos_fixed}")
    message(STATUS "cellfit: repaired Kokkos::kokkos include directories: ${_cellfit_kokkos_fixed}")
  endif()
endif()
message(STATUS "cellfit: Kokkos ${Kokkos_VERSION}")
