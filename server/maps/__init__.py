"""Coverage maps for duty leaders: the page data, the Folium page, its assets and words.

- :mod:`server.maps.service`: the stored layers, demand and roster a map is made from;
- :mod:`server.maps.layers`: the page data (one document per layer, coverage per slot);
- :mod:`server.maps.encoding`: the compact form a page carries its layers in;
- :mod:`server.maps.page`: the Folium coverage page and the gap list;
- :mod:`server.maps.vendor`: Leaflet from its installed package, and the map's own assets;
- :mod:`server.maps.collection`: the ``coverage`` collection of the OGC API;
- :mod:`server.maps.i18n` and :mod:`server.maps.settings`: the words and the settings.
"""
