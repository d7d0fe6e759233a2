"""Reports: views of the same tables — the folium maps, the scenario difference
map, 地域カルテ and 生活便利帳 (HTML, PDF).

Floor: imports ``planning`` and everything below it.
"""
