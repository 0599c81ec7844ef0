# Install rules: headers, the exported INTERFACE target, a package config and an
# architecture-independent version file, all under share/ (the package is header-only).

include(CMakePackageConfigHelpers)

set(SCALING_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/scaling"
    CACHE STRING "Where scalingConfig.cmake is installed")

install(DIRECTORY include/ DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT scaling_Development)
install(TARGETS scaling EXPORT scalingTargets INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/scalingConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
configure_package_config_file(
  cmake/scalingConfig.cmake.in "${PROJECT_BINARY_DIR}/scalingConfig.cmake"
  INSTALL_DESTINATION "${SCALING_INSTALL_CMAKEDIR}")

install(FILES "${PROJECT_BINARY_DIR}/scalingConfig.cmake"
              "${PROJECT_BINARY_DIR}/scalingConfigVersion.cmake" cmake/Findxxhash.cmake
        DESTINATION "${SCALING_INSTALL_CMAKEDIR}" COMPONENT scaling_Development)
install(EXPORT scalingTargets NAMESPACE scaling:: DESTINATION "${SCALING_INSTALL_CMAKEDIR}"
        COMPONENT scaling_Development)
