# check_layers.cmake - fails the build when common/ breaks its layering (DESIGN.md, "Layout").
#
#   cmake -DSOURCE_DIR=<repo> -DLAYERS="base;domain;..." -DNM=<nm> -DPURE_LIBS="<a>;<b>"
#         -P check_layers.cmake
#
# 1. Includes: a file in common/<layer>/ may include only headers of its own layer or of the
#    layers above it (earlier in LAYERS); services/ and tests/ may include any of them.
# 2. Symbols: the pure libraries (domain, wire) must not reference libpq, librdkafka, hiredis or
#    libmicrohttpd: their undefined symbols are read with nm.
# Every finding is printed; the script fails once at the end so that all of them are seen.
cmake_minimum_required(VERSION 3.22)

set(problems 0)

# header name -> layer index
set(i 0)
foreach(layer ${LAYERS})
  file(GLOB headers ${SOURCE_DIR}/common/${layer}/*.h)
  foreach(h ${headers})
    get_filename_component(name ${h} NAME)
    set(layer_of_${name} ${i})
  endforeach()
  set(index_of_${layer} ${i})
  math(EXPR i "${i} + 1")
endforeach()

foreach(layer ${LAYERS})
  file(GLOB files ${SOURCE_DIR}/common/${layer}/*.c ${SOURCE_DIR}/common/${layer}/*.h)
  foreach(f ${files})
    file(STRINGS ${f} incs REGEX "^#include \"")
    foreach(inc ${incs})
      string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" h "${inc}")
      if(NOT DEFINED layer_of_${h})
        message(SEND_ERROR "layers: ${f} includes \"${h}\", which is in no layer of common/")
        math(EXPR problems "${problems} + 1")
      elseif(layer_of_${h} GREATER index_of_${layer})
        list(GET LAYERS ${layer_of_${h}} lower)
        message(SEND_ERROR "layers: ${f} (${layer}) includes \"${h}\" of the lower layer ${lower}")
        math(EXPR problems "${problems} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()

foreach(lib ${PURE_LIBS})
  execute_process(COMMAND ${NM} --undefined-only ${lib} OUTPUT_VARIABLE syms
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(SEND_ERROR "layers: ${NM} could not read ${lib}")
    math(EXPR problems "${problems} + 1")
  endif()
  string(REGEX MATCHALL "U (PQ[A-Za-z_]+|lo_[a-z_]+|rd_kafka_[a-z_0-9]+|redis[A-Za-z_]+|MHD_[A-Za-z_]+)" found "${syms}")
  set(bad "")
  foreach(sym ${found})
    string(SUBSTRING "${sym}" 2 -1 sym)
    list(APPEND bad ${sym})
  endforeach()
  if(bad)
    list(REMOVE_DUPLICATES bad)
    list(JOIN bad ", " bad)
    get_filename_component(libname ${lib} NAME)
    message(SEND_ERROR "layers: ${libname} is pure (jansson and GLib only) but references: ${bad}")
    math(EXPR problems "${problems} + 1")
  endif()
endforeach()

if(problems GREATER 0)
  message(FATAL_ERROR "layers: ${problems} problem(s); see DESIGN.md, \"Layout\"")
endif()
