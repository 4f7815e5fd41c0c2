# Copies the dashboard's pages (web/), uPlot and ECharts (web/node_modules, from scripts/install-deps)
# next to ringmaster-dashboard, at every build; without them the dashboard says its pages are missing.
# cmake -DSRC=<source>/web -DDST=<build>/web -P copy_web.cmake
file(MAKE_DIRECTORY ${DST})
foreach(f index.html app.js app.css node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css
        node_modules/echarts/dist/echarts.min.js)
  if(EXISTS ${SRC}/${f})
    get_filename_component(name ${f} NAME)
    file(COPY_FILE ${SRC}/${f} ${DST}/${name} ONLY_IF_DIFFERENT)
  endif()
endforeach()
