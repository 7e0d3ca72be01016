# static-libs.cmake - run by mingw-w64.cmake after each project(): find_library
# (and so pkg_check_modules) takes static archives only, never the import
# libraries (*.dll.a) that Windows-GNU.cmake lists first. Windows' own
# import libraries are named lib*.a by mingw-w64 and are still found.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
