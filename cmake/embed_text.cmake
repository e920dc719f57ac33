# Embeds a text file in C++ as a raw string literal, at build time:
#   cmake -DINPUT=page.html -DOUT=page_html.hpp -DNAME=kPageHtml -P embed_text.cmake
# writes `inline constexpr std::string_view NAME = R"hpcnn_embed(...)hpcnn_embed";`
# into OUT (only when it changes, so dependants are not rebuilt needlessly).
file(READ "${INPUT}" text)
if(text MATCHES "\\)hpcnn_embed\"")
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )hpcnn_embed\"")
endif()
get_filename_component(source_name "${INPUT}" NAME)
set(contents "// Generated from ${source_name} by cmake/embed_text.cmake: edit that file, not this one.
#pragma once

#include <string_view>

namespace hpcnn::serve {
inline constexpr std::string_view ${NAME} = R\"hpcnn_embed(${text})hpcnn_embed\";
}  // namespace hpcnn::serve
")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL contents)
  file(WRITE "${OUT}" "${contents}")
endif()
