import{J as p,K as e}from"./D5IIdt6m.js";const t=Symbol("app");function s(o){e(t,o)}function r(){return p(t)}export{s as p,r as u};
