import{y as p,M as t}from"./D5IIdt6m.js";import{B as c}from"./C8nR_g-G.js";function f(r,s,...a){var e=new c(r);p(()=>{const n=s()??null;e.ensure(n,n&&(o=>n(o,...a)))},t)}export{f as s};
