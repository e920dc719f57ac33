# Run at every build (cmake -P): writes OUT with the checkout's revision, the
# 12-character commit plus "-dirty" when tracked files differ from it. The
# file is rewritten only when that changes, so nothing rebuilds needlessly.
# Inputs: SOURCE_DIR, OUT.
execute_process(COMMAND git rev-parse --short=12 HEAD
  WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE rc
  OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT rc EQUAL 0 OR NOT revision)
  set(revision "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no
    WORKING_DIRECTORY ${SOURCE_DIR}
    OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND revision "-dirty")
  endif()
endif()
set(content "// Generated at build time by cmake/git_revision.cmake.
#pragma once

namespace hpcnn::build {
inline constexpr const char* kGitRevision = \"${revision}\";
}  // namespace hpcnn::build
")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE ${OUT} "${content}")
