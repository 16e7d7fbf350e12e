# Mirror of CMakeLists.txt for tools that look for it. package.json sets "gypfile": false,
# so npm never runs node-gyp on install; cmake-js (CMakeLists.txt) is the build of record.
{
  "targets": [
    {
      "target_name": "sluice",
      "sources": [ "<!@(node -p \"require('fs').readdirSync('native',{recursive:true}).filter(f=>f.endsWith('.cc')).map(f=>'native/'+f).join(' ')\")" ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")", "native" ],
      "defines": [ "NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED" ],
      "cflags_cc": [ "-std=c++17", "-O3", "-fno-math-errno" ]
    }
  ]
}
