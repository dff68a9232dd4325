/*
 * dutygrid coverage map: draws the page data on a Leaflet map and restyles it slot by slot.
 *
 * Every geometry arrives once, one compact document per layer (server/maps/encoding.py: integer
 * coordinate steps, properties in columns), made GeoJSON again here. A post's "s" property has
 * one letter per slot and a last one for the whole day (c covered, p partly, g gap, n not
 * required); a unit grid's "c" has its coverage in percent per slot (-1: nothing required).
 * Changing the slot only restyles the features. Needs nothing but Leaflet.
 */
(function () {
  "use strict";

  var COLOURS = { c: "#1a9850", p: "#f39c12", g: "#d73027", n: "#a8a8a8" };
  var STATUS_KEYS = { c: "status_covered", p: "status_partly", g: "status_gap", n: "status_not_required" };
  var LEVELS = ["strict", "controlled", "regulated"];
  var LINE_WEIGHTS = [6, 4.5, 2.5];
  var RAMP = [[215, 48, 39], [254, 224, 139], [26, 152, 80]];

  function escapeHtml(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function rampColour(percent) {
    var x = Math.max(0, Math.min(100, percent)) / 50;
    var i = Math.min(1, Math.floor(x));
    var f = x - i;
    var rgb = [0, 1, 2].map(function (k) {
      return Math.round(RAMP[i][k] + (RAMP[i + 1][k] - RAMP[i][k]) * f);
    });
    return "rgb(" + rgb.join(",") + ")";
  }

  // a layer in the page's compact form (see server/maps/encoding.py) as a GeoJSON FeatureCollection
  function decodeLayer(layer) {
    if (!layer || layer.type === "FeatureCollection") {
      return layer;
    }
    var xy = layer.xy;
    var scale = Math.pow(10, layer.d);
    var items = new Array(xy.length / 2);
    var x = 0;
    var y = 0;
    for (var i = 0; i < items.length; i += 1) {
      x += xy[2 * i];
      y += xy[2 * i + 1];
      items[i] = [x / scale, y / scale];
    }
    layer.parts.forEach(function (counts) {
      var grouped = new Array(counts.length);
      var at = 0;
      for (var k = 0; k < counts.length; k += 1) {
        grouped[k] = items.slice(at, at + counts[k]);
        at += counts[k];
      }
      items = grouped;
    });
    var columns = layer.p;
    var lookup = layer.lookup || {};
    var keys = Object.keys(columns);
    var features = new Array(items.length);
    for (var n = 0; n < items.length; n += 1) {
      var properties = {};
      for (var j = 0; j < keys.length; j += 1) {
        var value = columns[keys[j]][n];
        if (value !== null && value !== undefined) {
          properties[keys[j]] = lookup[keys[j]] ? lookup[keys[j]][value] : value;
        }
      }
      features[n] = { type: "Feature", properties: properties, geometry: { type: layer.g, coordinates: items[n] } };
    }
    return { type: "FeatureCollection", features: features };
  }

  function element(tag, className, parent) {
    var node = L.DomUtil.create(tag, className || "", parent);
    return node;
  }

  function dutygridStart(map, payload, options) {
    var meta = payload.meta;
    var state = { slot: options.initial, lang: options.lang };
    var dayIndex = meta.slots.length - 1;
    var postLayers = {};
    var gridLayers = {};
    var groups = {};
    var controls = {};
    var openPopup = null;

    function t(key) {
      var table = options.strings[state.lang] || {};
      return table[key] !== undefined ? table[key] : key;
    }

    function slotLabel(i) {
      var s = meta.slots[i];
      return state.lang === "zh" ? s.zh : s.en;
    }

    function slotTime(i) {
      var s = meta.slots[i];
      return s.start ? s.start + "–" + s.end : "";
    }

    var neverRequired = new Array(meta.slots.length + 1).join("n");

    function statusOf(feature) {
      return (feature.properties.s || neverRequired).charAt(state.slot);
    }

    function levelOf(properties) {
      return properties.l === undefined ? 2 : properties.l;
    }

    function lineStyle(feature) {
      var status = statusOf(feature);
      var weight = LINE_WEIGHTS[levelOf(feature.properties)];
      return {
        color: COLOURS[status],
        weight: status === "n" ? Math.max(1.5, weight - 2.5) : weight,
        opacity: status === "n" ? 0.75 : 0.95,
        lineCap: "round"
      };
    }

    function pointStyle(feature) {
      return {
        radius: 8,
        color: "#222",
        weight: 1.5,
        fillColor: COLOURS[statusOf(feature)],
        fillOpacity: 0.95
      };
    }

    function gridStyle(feature) {
      var percent = feature.properties.c[state.slot];
      if (percent < 0) {
        return { stroke: false, fill: false };
      }
      return {
        stroke: true,
        color: "#ffffff",
        weight: 0.6,
        opacity: 0.7,
        fill: true,
        fillColor: rampColour(percent),
        fillOpacity: 0.45
      };
    }

    function person(index) {
      var p = meta.people[index] || ["?", "officer", null];
      var phone = p[2] ? " · " + t("phone") + " " + escapeHtml(p[2]) : "";
      return escapeHtml(p[0]) + "（" + escapeHtml(t("role_" + p[1])) + "）" + phone;
    }

    function needsAt(properties) {
      var needs = properties.k === undefined ? {} : meta.needs[properties.k];
      if (state.slot !== dayIndex) {
        return needs[String(state.slot)] || null;
      }
      var total = null;
      Object.keys(needs).forEach(function (key) {
        var n = needs[key];
        total = total || [0, 0, 0];
        total = [total[0] + n[0], total[1] + n[1], total[2] + n[2]];
      });
      return total;
    }

    function peopleAt(properties) {
      var on = properties.o === undefined ? {} : meta.crews[properties.o];
      if (state.slot !== dayIndex) {
        return on[String(state.slot)] || [];
      }
      var seen = {};
      var all = [];
      Object.keys(on).forEach(function (key) {
        on[key].forEach(function (p) {
          if (!seen[p]) {
            seen[p] = true;
            all.push(p);
          }
        });
      });
      return all;
    }

    function postPopup(layer) {
      var p = layer.feature.properties;
      var status = statusOf(layer.feature);
      var road = p.r === undefined ? "" : meta.roads[p.r];
      var squad = p.q === undefined ? "" : meta.squads[p.q][1];
      var needs = needsAt(p);
      var people = peopleAt(p);
      var rows = [
        [t("level"), escapeHtml(t("level_" + LEVELS[levelOf(p)]))],
        [t("squad"), escapeHtml(squad)],
        [t("slot"), escapeHtml(slotLabel(state.slot) + " " + slotTime(state.slot))],
        [t("status"), '<span class="dg-status dg-status-' + status + '">' + escapeHtml(t(STATUS_KEYS[status])) + "</span>"]
      ];
      if (needs) {
        rows.push([
          t("required"),
          escapeHtml(t("required_officers") + " " + needs[0] + " · " + t("required_any") + " " + needs[1] +
            " · " + t("counted") + " " + needs[2])
        ]);
      }
      rows.push([
        t("people"),
        people.length ? people.map(person).join("<br/>") : '<span class="dg-muted">' + escapeHtml(t("nobody")) + "</span>"
      ]);
      return (
        '<div class="dg-popup"><div class="dg-popup-title">' + escapeHtml(road || t("post")) +
        ' <span class="dg-id">' + escapeHtml(p.i) + "</span></div><table>" +
        rows.map(function (r) {
          return "<tr><th>" + escapeHtml(r[0]) + "</th><td>" + r[1] + "</td></tr>";
        }).join("") + "</table></div>"
      );
    }

    // one popup for every post, filled on opening: a popup per feature costs a city's network
    // a second to make
    var popup = L.popup({ maxWidth: 360 });
    var popupLayer = null;

    function openPost(layer, latlng) {
      popupLayer = layer;
      popup.setLatLng(latlng || (layer.getCenter ? layer.getCenter() : layer.getLatLng()));
      popup.setContent(postPopup(layer));
      popup.openOn(map);
    }

    function indexPost(feature, layer) {
      (postLayers[feature.properties.i] = postLayers[feature.properties.i] || []).push(layer);
    }

    var data = {};
    Object.keys(payload.layers).forEach(function (name) {
      data[name] = decodeLayer(payload.layers[name]);
    });
    groups.boundary = L.geoJSON(data.boundary, {
      interactive: false,
      // the district's own ground is the background, unless base tiles are drawn under it
      style: { color: "#444", weight: 2.5, fill: true, fillColor: "#f7f5ee", fillOpacity: options.tiles ? 0.08 : 0.6 }
    });
    groups.territories = L.geoJSON(data.territories, {
      style: { color: "#6a51a3", weight: 1.5, dashArray: "6 5", fill: true, fillOpacity: 0.02 },
      onEachFeature: function (feature, layer) {
        layer.bindTooltip(escapeHtml(feature.properties.n), { sticky: true, className: "dg-tip" });
      }
    });
    if (data.grids) {
      groups.grids = L.geoJSON(data.grids, {
        interactive: false,
        style: gridStyle,
        onEachFeature: function (feature, layer) {
          gridLayers[feature.properties.i] = layer;
        }
      });
    }
    if (data.background) {
      groups.background = L.geoJSON(data.background, {
        interactive: false,
        style: { color: "#8c8c8c", weight: 1.5, opacity: 0.8 }
      });
    }
    groups.roads = L.geoJSON(data.roads, { style: lineStyle, onEachFeature: indexPost });
    groups.guidance = L.geoJSON(data.guidance, {
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, { radius: 4, color: "#1f4e79", weight: 2, fillColor: "#fff", fillOpacity: 1 });
      },
      onEachFeature: function (feature, layer) {
        var w = feature.properties.w ? "<br/>" + escapeHtml(feature.properties.w.split(";").join("  ")) : "";
        layer.bindTooltip(function () {
          return escapeHtml(feature.properties.n) + '<span class="dg-muted"> · ' + escapeHtml(t("windows")) + "</span>" + w;
        }, { className: "dg-tip" });
      }
    });
    groups.points = L.geoJSON(data.points, {
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, pointStyle(feature));
      },
      style: pointStyle,
      onEachFeature: indexPost
    });
    mark("dutygrid-layers-made");
    // set the view before adding the layers, so that the canvas is drawn once, not twice
    if (meta.bounds) {
      map.fitBounds(meta.bounds, { padding: [20, 20], animate: false });
    }
    var order = ["boundary", "territories", "grids", "background", "roads", "guidance", "points"];
    order.forEach(function (name) {
      if (groups[name]) {
        groups[name].addTo(map);
      }
    });

    [groups.roads, groups.points].forEach(function (group) {
      group.on("click", function (event) {
        openPost(event.layer, event.latlng);
      });
    });
    map.on("popupopen", function (event) {
      openPopup = event.popup;
    });
    map.on("popupclose", function () {
      openPopup = null;
    });

    function refreshPopup() {
      if (openPopup === popup && popupLayer) {
        popup.setContent(postPopup(popupLayer));
      } else if (openPopup) {
        openPopup.update();
      }
    }

    function restyle() {
      groups.roads.setStyle(lineStyle);
      groups.points.setStyle(pointStyle);
      if (groups.grids) {
        groups.grids.setStyle(gridStyle);
      }
      refreshPopup();
    }

    // --- controls ----------------------------------------------------------------------------
    function percent(value) {
      return value === null || value === undefined ? "—" : Math.round(value * 1000) / 10 + "%";
    }

    function renderHeadline(container) {
      var s = meta.summaries[state.slot];
      var leaders = s.leaders.map(function (i) {
        var p = meta.people[i];
        return escapeHtml(p[0]) + (p[2] ? " · " + escapeHtml(t("phone")) + " " + escapeHtml(p[2]) : "");
      });
      var slot = slotLabel(state.slot) + (slotTime(state.slot) ? " " + slotTime(state.slot) : "");
      var rows = [
        ["strict_coverage", '<b class="dg-big">' + percent(s.strict) + "</b>"],
        ["gaps", '<b class="' + (s.gaps ? "dg-bad" : "") + '">' + s.gaps + "</b>" +
          ' <span class="dg-muted">(' + escapeHtml(t("strict_gaps")) + " " + s.strictGaps + ")</span>"],
        ["officers", String(s.officers)],
        ["assistants", String(s.assistants)],
        ["leader", leaders.length ? leaders.join("<br/>") : '<span class="dg-bad">' + escapeHtml(t("no_leader")) + "</span>"]
      ];
      var html =
        '<div class="dg-title">' + escapeHtml(t("title")) + " " + escapeHtml(meta.date) + "</div>" +
        '<div class="dg-subtitle">' + escapeHtml(slot) + "</div>" +
        '<div class="dg-seam ' + (s.seamless ? "dg-good" : "dg-bad") + '">' +
        escapeHtml(t(s.seamless ? "seamless_yes" : "seamless_no")) + "</div><table>" +
        rows.map(function (r) {
          return "<tr><th>" + escapeHtml(t(r[0])) + "</th><td>" + r[1] + "</td></tr>";
        }).join("") + "</table>";
      if (!meta.roster.assignments) {
        html += '<div class="dg-warning">' + escapeHtml(t("no_roster")) + "</div>";
      }
      html += '<div class="dg-links">';
      if (options.links.gaps) {
        html += '<a class="dg-gaps-link" href="' + escapeHtml(options.links.gaps + "&lang=" + state.lang) + '">' + escapeHtml(t("gap_list")) + "</a>";
      }
      html += '<button type="button" class="dg-lang">' + escapeHtml(t("language")) + "</button>" +
        '<button type="button" class="dg-print">' + escapeHtml(t("print")) + "</button></div>";
      container.innerHTML = html;
      container.querySelector(".dg-lang").onclick = function () {
        setLang(state.lang === "zh" ? "en" : "zh");
      };
      container.querySelector(".dg-print").onclick = function () {
        window.print();
      };
    }

    function renderSlots(container) {
      var html = '<div class="dg-slot-title">' + escapeHtml(t("slot")) + "</div>" +
        '<button type="button" class="dg-step" data-step="-1" title="' + escapeHtml(t("previous")) + '">‹</button>';
      meta.slots.forEach(function (s, i) {
        var classes = ["dg-slot"];
        if (i === state.slot) {
          classes.push("dg-current");
        }
        if (s.strictGaps) {
          classes.push("dg-slot-gap");
        }
        var now = meta.now === i ? '<span class="dg-now">' + escapeHtml(t("now")) + "</span>" : "";
        html += '<button type="button" class="' + classes.join(" ") + '" data-slot="' + i + '" data-slot-id="' +
          escapeHtml(s.id) + '">' + escapeHtml(slotLabel(i)) + now +
          (s.start ? '<span class="dg-time">' + escapeHtml(slotTime(i)) + "</span>" : "") + "</button>";
      });
      html += '<button type="button" class="dg-step" data-step="1" title="' + escapeHtml(t("next")) + '">›</button>';
      container.innerHTML = html;
      Array.prototype.forEach.call(container.querySelectorAll("button"), function (button) {
        button.onclick = function () {
          if (button.dataset.step) {
            var next = (state.slot + Number(button.dataset.step) + meta.slots.length) % meta.slots.length;
            setSlot(next);
          } else {
            setSlot(Number(button.dataset.slot));
          }
        };
      });
    }

    function renderLegend(container) {
      var html = '<div class="dg-legend-title">' + escapeHtml(t("legend")) + "</div>";
      ["c", "p", "g", "n"].forEach(function (s) {
        html += '<div class="dg-legend-row"><span class="dg-swatch-line" style="background:' + COLOURS[s] +
          '"></span>' + escapeHtml(t(STATUS_KEYS[s])) + "</div>";
      });
      LEVELS.forEach(function (level, i) {
        html += '<div class="dg-legend-row"><span class="dg-swatch-line" style="background:#555;height:' +
          LINE_WEIGHTS[i] + 'px"></span>' + escapeHtml(t("level_" + level)) + "</div>";
      });
      if (groups.grids) {
        html += '<div class="dg-legend-row">' + escapeHtml(t("grid_coverage")) +
          '</div><div class="dg-ramp"></div><div class="dg-ramp-labels"><span>0%</span><span>50%</span><span>100%</span></div>' +
          '<div class="dg-muted dg-small">' + escapeHtml(t("grid_note")) + "</div>";
      }
      container.innerHTML = html;
    }

    function panel(position, className, render) {
      var Control = L.Control.extend({
        onAdd: function () {
          var container = element("div", "dg-panel " + className);
          L.DomEvent.disableClickPropagation(container);
          L.DomEvent.disableScrollPropagation(container);
          this.render = function () {
            render(container);
          };
          this.render();
          return container;
        }
      });
      var control = new Control({ position: position });
      control.addTo(map);
      return control;
    }

    function layerControl() {
      if (controls.layers) {
        controls.layers.remove();
      }
      var overlays = {};
      ["roads", "points", "grids", "guidance", "territories", "background", "boundary"].forEach(function (name) {
        if (groups[name]) {
          overlays[escapeHtml(t("layer_" + name))] = groups[name];
        }
      });
      controls.layers = L.control.layers(null, overlays, {
        collapsed: window.innerWidth < 900,
        position: "topright"
      }).addTo(map);
    }

    controls.headline = panel("topleft", "dg-headline", renderHeadline);
    controls.slots = panel("bottomleft", "dg-slots", renderSlots);
    controls.legend = panel("bottomright", "dg-legend", renderLegend);
    layerControl();

    if (meta.schematic) {
      element("div", "dg-schematic", map.getContainer()).textContent = options.schematicMark;
    }
    meta.credits.forEach(function (credit) {
      map.attributionControl.addAttribution(escapeHtml(credit));
    });

    function setSlot(i) {
      if (i < 0 || i >= meta.slots.length || i !== Math.floor(i)) {
        return;
      }
      state.slot = i;
      restyle();
      controls.headline.render();
      controls.slots.render();
      document.documentElement.dataset.dutygridSlot = meta.slots[i].id;
    }

    function setLang(lang) {
      state.lang = lang === "en" ? "en" : "zh";
      document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
      document.title = t("title") + " " + meta.date;
      controls.headline.render();
      controls.slots.render();
      controls.legend.render();
      layerControl();
      refreshPopup();
    }

    function showPlace(id) {
      var ids = meta.places[id] || [id];
      var found = [];
      ids.forEach(function (postId) {
        (postLayers[postId] || []).forEach(function (layer) {
          found.push(layer);
        });
      });
      if (!found.length) {
        return false;
      }
      var bounds = L.latLngBounds([]);
      found.forEach(function (layer) {
        bounds.extend(layer.getBounds ? layer.getBounds() : layer.getLatLng());
      });
      map.fitBounds(bounds, { maxZoom: 17, padding: [60, 60] });
      openPost(found[0]);
      return true;
    }

    function followHash() {
      var match = /(?:^#|&)post=([^&]+)/.exec(window.location.hash);
      return match ? showPlace(decodeURIComponent(match[1])) : false;
    }

    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) {
        return;
      }
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        var step = event.key === "ArrowRight" ? 1 : -1;
        setSlot((state.slot + step + meta.slots.length) % meta.slots.length);
      }
    });
    window.addEventListener("hashchange", followHash);

    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.documentElement.dataset.dutygridSlot = meta.slots[state.slot].id;
    followHash();

    var api = {
      map: map,
      meta: meta,
      groups: groups,
      setSlot: setSlot,
      setLang: setLang,
      showPlace: showPlace,
      slot: function () {
        return state.slot;
      },
      lang: function () {
        return state.lang;
      },
      counts: function () {
        var counts = {};
        Object.keys(groups).forEach(function (name) {
          counts[name] = groups[name].getLayers().length;
        });
        return counts;
      },
      postColour: function (id) {
        var layers = postLayers[id] || [];
        if (!layers.length) {
          return null;
        }
        return layers[0] instanceof L.CircleMarker ? layers[0].options.fillColor : layers[0].options.color;
      },
      gridColour: function (code) {
        var layer = gridLayers[code];
        return layer && layer.options.fill !== false ? layer.options.fillColor : null;
      },
      drawnAt: null
    };
    // the canvas draws on the next animation frame: the map is drawn after the second
    window.requestAnimationFrame(function () {
      window.requestAnimationFrame(function () {
        api.drawnAt = window.performance.now();
        document.documentElement.dataset.dutygridDrawn = "1";
      });
    });
    return api;
  }

  function mark(name) {
    if (window.performance && window.performance.mark) {
      window.performance.mark(name);
    }
  }

  // the page data: JSON, or for a large page gzip-compressed JSON in base64
  function readData(node) {
    if (node.getAttribute("data-encoding") !== "gzip-base64") {
      return Promise.resolve(JSON.parse(node.textContent));
    }
    var binary = window.atob(node.textContent.trim());
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new window.DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  function dutygridLoad(map, node, options) {
    return readData(node)
      .then(function (payload) {
        mark("dutygrid-data-read");
        window.dutygrid = dutygridStart(map, payload, options);
        return window.dutygrid;
      })
      .catch(function (error) {
        var note = L.DomUtil.create("div", "dg-schematic", map.getContainer());
        note.textContent = "the map could not be drawn: " + error;
        window.console.error(error);
        throw error;
      });
  }

  window.dutygridStart = dutygridStart;
  window.dutygridDecodeLayer = decodeLayer;
  window.dutygridLoad = dutygridLoad;
})();
