// A small set of line icons drawn for MiaoDa Chat (24x24 grid, stroked with currentColor).
import { s } from "./dom.js";

const PATHS = {
  providers: ["M4 4h16v6H4z", "M4 14h16v6H4z", "M8 7h.01", "M8 17h.01"],
  chat: ["M4 5h16v11H10l-5 4v-4H4z"],
  info: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 11v5", "M12 8h.01"],
  plus: ["M12 5v14", "M5 12h14"],
  pulse: ["M3 12h4l3-7 4 14 3-7h4"],
  edit: ["M4 20h4L19 9l-4-4L4 16z", "M13.5 6.5l4 4"],
  trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13", "M10 11v5", "M14 11v5"],
  import: ["M12 4v11", "M7 10l5 5 5-5", "M5 20h14"],
  export: ["M12 15V4", "M7 9l5-5 5 5", "M5 20h14"],
  check: ["M5 12.5l4.5 4.5L19 7"],
  x: ["M6 6l12 12", "M18 6L6 18"],
  alert: ["M12 3.5l9.5 16.5h-19z", "M12 10v4.5", "M12 17.5h.01"],
  question: [
    "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z",
    "M9.6 9.3a2.5 2.5 0 1 1 3.3 2.4c-.6.2-.9.8-.9 1.4v.6",
    "M12 16.6h.01",
  ],
  chevron: ["M6 9l6 6 6-6"],
  external: ["M14 4h6v6", "M20 4l-9 9", "M18 14v6H4V6h6"],
  key: ["M8 20a5 5 0 1 0 0-10 5 5 0 0 0 0 10z", "M11.5 11.5L20 3", "M16.5 6.5l3 3"],
  search: ["M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z", "M20 20l-4-4"],
  bolt: ["M13 2L4.5 13.5H11L10 22l8.5-11.5H12z"],
  folder: ["M3 6h6l2 2h10v11H3z"],
  shield: ["M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z", "M9 12l2 2 4-4"],
  eye: ["M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12z", "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z"],
  "eye-off": [
    "M3 3l18 18",
    "M10.6 5.1A10 10 0 0 1 12 5c6.5 0 10 7 10 7a17 17 0 0 1-3.2 4.2",
    "M6.6 6.6C3.8 8.4 2 12 2 12s3.5 7 10 7a9.7 9.7 0 0 0 4.4-1.1",
    "M9.9 9.9a3 3 0 0 0 4.2 4.2",
  ],
  copy: ["M9 9h11v11H9z", "M5 15H4V4h11v1"],
  file: ["M6 3h8l5 5v13H6z", "M14 3v5h5"],
  sparkle: [
    "M12 3v4",
    "M12 17v4",
    "M3 12h4",
    "M17 12h4",
    "M6 6l2.5 2.5",
    "M15.5 15.5L18 18",
    "M6 18l2.5-2.5",
    "M15.5 8.5L18 6",
  ],
  link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
  send: ["M12 19V5", "M6 11l6-6 6 6"],
  stop: ["M7 7h10v10H7z"],
  retry: ["M4 12a8 8 0 0 1 13.7-5.6L20 8.5", "M20 4v4.5h-4.5", "M20 12a8 8 0 0 1-13.7 5.6L4 15.5", "M4 20v-4.5h4.5"],
  "arrow-down": ["M12 5v14", "M6 13l6 6 6-6"],
  tool: ["M14.5 6.5a4 4 0 0 0 5 5L20 12l-8.5 8.5a2.1 2.1 0 0 1-3-3L17 9", "M14.5 6.5L17.5 3.5a4 4 0 0 1 3 3"],
  "new-chat": ["M12 4H5v15h14v-7", "M18 3l3 3-8 8H10v-3z"],
  brain: [
    "M9 4a3 3 0 0 0-3 3 3 3 0 0 0-2 5 3 3 0 0 0 2 5 3 3 0 0 0 6 1V5a2 2 0 0 0-3-1z",
    "M15 4a3 3 0 0 1 3 3 3 3 0 0 1 2 5 3 3 0 0 1-2 5 3 3 0 0 1-6 1",
  ],
  clock: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 7v5l3 2"],
  pin: ["M9 4h6", "M10 4v5l-3 4h10l-3-4V4", "M12 13v7"],
  "pin-off": ["M3 3l18 18", "M9 4h6", "M10 4v3", "M14 4v5l3 4h-4", "M9.5 10L7 13h4", "M12 13v7"],
  sidebar: ["M4 5h16v14H4z", "M9 5v14"],
  undo: ["M9 14L4 9l5-5", "M4 9h10a6 6 0 0 1 0 12h-3"],
  route: [
    "M6 21a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
    "M18 7a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
    "M6 17v-4a3 3 0 0 1 3-3h6a3 3 0 0 0 3-3",
  ],
  "arrow-up": ["M12 19V5", "M6 11l6-6 6 6"],
  chart: ["M4 20h16", "M7 16v-5", "M12 16V6", "M17 16v-8"],
  grip: ["M9 6h.01", "M15 6h.01", "M9 12h.01", "M15 12h.01", "M9 18h.01", "M15 18h.01"],
  settings: [
    "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
    "M10.3 3h3.4l.5 2.4 1.8 1 2.3-.8 1.7 2.9-1.8 1.6v2l1.8 1.6-1.7 2.9-2.3-.8-1.8 1-.5 2.4h-3.4l-.5-2.4-1.8-1-2.3.8-1.7-2.9 1.8-1.6v-2L3.8 8.5l1.7-2.9 2.3.8 1.8-1z",
  ],
  keyboard: ["M3 6h18v12H3z", "M7 10h.01", "M11 10h.01", "M15 10h.01", "M17 10h.01", "M8 14h8"],
};

/** An inline SVG icon, hidden from assistive tech (the control around it carries the name). */
export function icon(name, { size = 18, className } = {}) {
  const paths = PATHS[name] || PATHS.question;
  return s(
    "svg",
    {
      class: ["icon", className],
      viewBox: "0 0 24 24",
      width: size,
      height: size,
      fill: "none",
      stroke: "currentColor",
      "stroke-width": 1.8,
      "stroke-linecap": "round",
      "stroke-linejoin": "round",
      "aria-hidden": "true",
      focusable: "false",
    },
    paths.map((d) => s("path", { d })),
  );
}
